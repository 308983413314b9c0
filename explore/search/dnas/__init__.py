"""search/dnas"""
