"""Python for the page that collects autosync's log records, to check what a tab reported.

page.python(COLLECT_LOG)
page.python("[m for level, m in collected.seen if level == 'WARNING']")
"""

COLLECT_LOG = """
import logging
class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = []
    def emit(self, record):
        self.seen.append([record.levelname, record.getMessage()])
collected = Collect()
logging.getLogger('autosync').addHandler(collected)
logging.getLogger('autosync').setLevel(logging.DEBUG)
None
"""
