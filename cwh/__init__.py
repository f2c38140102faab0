"""The CoursewareHub domain: plain Python, no Prefect, no outside system.

Packages: :mod:`cwh.enrich` (lc_wrapper records to enriched documents), :mod:`cwh.textbook`
(the MEME index of the released notebooks), :mod:`cwh.timetable` (the worker timetable and
its plan), :mod:`cwh.progress` (the teacher's progress report) and :mod:`cwh.setup` (the
configuration the setup flow deploys). A few cross-cutting modules sit beside them.
"""
