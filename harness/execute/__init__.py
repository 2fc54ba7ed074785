"""harness/execute"""
