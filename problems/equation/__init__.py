"""problems/equation"""
