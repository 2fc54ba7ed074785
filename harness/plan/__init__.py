"""harness/plan"""
