"""aptwatch: alert a SOC when someone attributes an attack to a known APT group."""

__version__ = "0.1.0"
