{{ dbt_utils.date_spine(datepart="month", start_date="'2024-01-01'", end_date="'2024-06-01'") }}
