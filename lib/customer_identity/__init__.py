"""Ebuy customer identity: resolve platform, CRM and guest records into golden customers on Spark."""

__version__ = "0.1.0"
