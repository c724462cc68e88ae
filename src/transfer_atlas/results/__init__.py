"""Results: aggregation into tables, statistics, rankings and the derived views the report reads."""
