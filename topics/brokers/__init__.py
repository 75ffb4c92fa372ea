"""Broker configuration: every broker config with its source, edited in human units by admins."""
