"""Treatment runners: how a gate gets its treatment perf report.

``base`` defines the interface (submit / poll / collect / stop) and the job-state model;
``iris`` drives marin's scripts and the iris CLI; ``replay`` serves recorded reports;
``local`` (when present) runs real Zephyr on this machine as an A/B pair.
"""
