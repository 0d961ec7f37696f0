"""What a run leaves behind and shows: the report (journal, sort, atomic replace), the summary,
the progress bar, the run page and the workbook.
"""
