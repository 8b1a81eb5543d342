"""The analytics domain: aggregate figures over live articles."""
