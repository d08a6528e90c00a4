"""(being written for issue 15)"""
