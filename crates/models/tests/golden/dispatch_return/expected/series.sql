select unnest(generate_series(1, 3)) as generated_number
