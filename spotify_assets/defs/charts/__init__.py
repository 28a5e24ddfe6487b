"""Group ``charts``: public chart CSVs landed like export files -> ``core.chart_entries`` ->
the chart marts."""
