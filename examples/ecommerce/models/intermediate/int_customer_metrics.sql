select
    customer_id,
    count(*) as total_transactions,
    sum(transaction_amount) as total_spent,
    avg(transaction_amount) as avg_transaction_amount,
    min(transaction_date) as first_transaction_date,
    max(transaction_date) as last_transaction_date,
    {{ dbt_utils.datediff('min(transaction_date)', 'max(transaction_date)', 'day') }} as customer_lifetime_days,
    {{ dbt_utils.datediff('max(transaction_date)', 'current_date', 'day') }} as days_since_last_transaction,
    count(case when transaction_quarter = 4 then 1 end) as q4_transactions,
    sum(case when transaction_quarter = 4 then transaction_amount end) as q4_spending
from {{ ref('int_transaction_analysis') }}
group by customer_id
