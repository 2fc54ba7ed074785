"""problems/references"""
