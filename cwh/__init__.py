"""The CoursewareHub domain: plain Python, no Prefect.

The enrichment hot path runs from its mypyc build when a current one exists (see
:mod:`cwh.compiled`); otherwise every module runs from its source.
"""

from cwh.compiled import use_current_build

use_current_build(__path__)
