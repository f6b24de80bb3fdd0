"""ROS 2 adapter: nodes, QoS, parameters and message conversions around the core agents.

Nothing here chooses the DDS discovery range, domain or RMW: that is the deployer's choice
(``ROS_AUTOMATIC_DISCOVERY_RANGE``, ``ROS_DOMAIN_ID``, ``RMW_IMPLEMENTATION``). Only the
embedded runners, the demos, the tests and the benchmarks pin discovery to this host.
"""
