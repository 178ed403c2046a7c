"""Venue sessions: one package per exchange kind, each parsing its wire format at the edge."""
