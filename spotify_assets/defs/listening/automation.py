"""Declarative automation of the listening group: when the sensor's runs land new files,
``core/streams`` and the tables after it update themselves (``AutomationCondition.eager()``
on each). One automation sensor per domain, so one domain's evaluation never delays another's."""

import dagster as dg

listening_automation_sensor = dg.AutomationConditionSensorDefinition(
    "listening_automation_sensor",
    target=dg.AssetSelection.groups("listening"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Updates core/streams and what follows it when export files land.",
)
