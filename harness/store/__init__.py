"""harness/store"""
