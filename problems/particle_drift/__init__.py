"""problems/particle_drift"""
