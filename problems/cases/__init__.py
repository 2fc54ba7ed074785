"""problems/cases"""
