"""Messages for mapping and transform error codes (English msgids; Chinese in mapping.po)."""

from __future__ import annotations

ERROR_MESSAGES: dict[str, str] = {
    "transform.*": "A transform of the mapping cannot be used.",
    "transform.too_many": "At most %(max)s transforms per order field.",
    "transform.target_unknown": "%(target)s is not an order field.",
    "transform.pattern_invalid": "Step %(step)s (date format): %(pattern)s is not a date pattern "
                                 "(use %%Y %%m %%d %%H %%M %%S, e.g. %%d/%%m/%%Y).",
    "transform.factor_invalid": "Step %(step)s (unit/scale): %(value)s is not a number other than 0.",
    "transform.map_too_large": "Step %(step)s (value map): at most %(max)s values.",
    "transform.not_a_number": "Step %(step)s (unit/scale) of %(field)s: %(value)s is not a number.",
    "transform.date_unreadable": "Step %(step)s (date format) of %(field)s: %(value)s is not a date in the "
                                 "format %(pattern)s.",
    "transform.value_unmapped": "Step %(step)s (value map) of %(field)s: %(value)s is not in the value map.",
    "transform.split_missing": "Step %(step)s (split) of %(field)s: %(value)s has no part %(index)s when cut at "
                               "\"%(separator)s\".",
    "transform.too_long": "Step %(step)s of %(field)s: the value grew longer than %(max)s characters.",
    "mapping.*": "The mapping cannot be used.",
    "mapping.version_not_found": "There is no mapping version %(version)s.",
    "mapping.import_too_large": "The mapping file is larger than %(max)s bytes.",
    "mapping.bad_json": "The file is not valid JSON.",
    "mapping.not_a_mapping": "The file is not an exported Gendan mapping.",
    "mapping.unknown_fields": "The mapping file has fields Gendan does not know: %(fields)s.",
    "mapping.invalid": "The mapping file is not valid at %(where)s (%(problem)s).",
}

# core order fields in words, for transform errors (the same msgids as the import wizard's targets)
FIELD_WORDS: dict[str, str] = {
    "external_id": "Order no. in the source system", "number": "Order no.", "customer": "Customer name",
    "customer_code": "Customer code", "amount": "Amount", "currency": "Currency", "stage": "Stage or status",
    "created": "Order date", "planned_delivery": "Planned delivery", "payment_due": "Payment due",
}
