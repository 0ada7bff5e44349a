"""Messages for report error codes (English msgids; Chinese in reports.po)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "report.*": "The report is not valid.",
    "report.not_found": "Report %(key)s was not found.",
    "report.no_draft": "Report %(key)s has no draft to publish.",
    "report.conflict": "Someone else saved report %(key)s at the same moment. Reload and try again.",
    "report.key_missing": "Give the report a key (lower-case letters, digits and _).",
    "report.definition_invalid": "The report has %(count)s problem(s).",
    "report.unknown_field": "Unknown field: %(field)s.",
    "report.cannot_group": "A list field such as %(field)s cannot be grouped by.",
    "report.bucket_needs_date": "%(field)s: a time field is grouped by day, week, month, quarter or year; other fields are not.",
    "report.measure_needs_number": "Sum, average, minimum, maximum, median and p90 need a number field (%(field)s is not).",
    "report.rate_needs_condition": "A rate needs a condition.",
    "report.filter_too_large": "The filter is too large.",
    "report.bad_sort": "Sort by a dimension or measure the report has.",
    "report.bad_cell": "That cell does not belong to this report.",
    "report.condition_not_compilable": "This condition cannot be used in a report (%(reason)s).",
    "report.condition_invalid": "The condition is not valid.",
    "report.too_slow": "The report took too long. Add a filter or fewer groups.",
    "dashboard.*": "The dashboard is not valid.",
    "dashboard.not_found": "Dashboard %(key)s was not found.",
    "dashboard.definition_invalid": "The dashboard has %(count)s problem(s).",
    "dashboard.bad_filter": "This filter is not valid: %(name)s.",
    "dashboard.conflict": "Someone else saved this dashboard at the same moment. Reload and try again.",
}
