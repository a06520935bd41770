select current_timestamp as now
