"""Message catalogue for form issue codes: code -> {"en": template, "zh-CN": template}.

A pure dict so the engine stays language-free at its core (issues carry code + params) while the
backend's i18n, the designer and the API render the same text. Templates use `{name}`
placeholders filled from the issue's params; a missing param leaves the placeholder visible
rather than failing. Not gettext on purpose: these strings belong to the form engine and are
tested here, next to the codes they explain.
"""

from __future__ import annotations

import string
from typing import Any

DEFAULT_LOCALE = "zh-CN"

MESSAGES: dict[str, dict[str, str]] = {
    # order data
    "form.required": {"en": "This field is required.", "zh-CN": "此字段为必填项。"},
    "form.must_be_checked": {"en": "This box must be checked.", "zh-CN": "必须勾选此项。"},
    "form.unknown_field": {"en": "Unknown field “{field}”.", "zh-CN": "未知字段“{field}”。"},
    "form.data_invalid": {"en": "Form data must be an object.", "zh-CN": "表单数据必须是一个对象。"},
    "form.text_invalid": {"en": "Enter text.", "zh-CN": "请输入文本。"},
    "form.text_too_long": {"en": "At most {max} characters (now {length}).",
                           "zh-CN": "最多 {max} 个字符（当前 {length} 个）。"},
    "form.text_too_short": {"en": "At least {min} characters (now {length}).",
                            "zh-CN": "至少 {min} 个字符（当前 {length} 个）。"},
    "form.pattern_mismatch": {"en": "The format is not valid.", "zh-CN": "格式不正确。"},
    "form.phone_invalid": {"en": "Enter a valid phone number.", "zh-CN": "请输入有效的电话号码。"},
    "form.email_invalid": {"en": "Enter a valid email address.", "zh-CN": "请输入有效的电子邮箱地址。"},
    "form.number_invalid": {"en": "Enter a number.", "zh-CN": "请输入数字。"},
    "form.too_many_decimals": {"en": "At most {decimals} decimal places.",
                               "zh-CN": "最多保留 {decimals} 位小数。"},
    "form.number_too_small": {"en": "Must be at least {min}.", "zh-CN": "不能小于 {min}。"},
    "form.number_too_large": {"en": "Must be at most {max}.", "zh-CN": "不能大于 {max}。"},
    "form.date_invalid": {"en": "Enter a valid date (YYYY-MM-DD).", "zh-CN": "请输入有效日期（YYYY-MM-DD）。"},
    "form.datetime_invalid": {"en": "Enter a valid date and time.", "zh-CN": "请输入有效的日期和时间。"},
    "form.datetime_timezone_missing": {"en": "The date and time needs a time zone.",
                                       "zh-CN": "日期时间缺少时区。"},
    "form.date_too_early": {"en": "Must be on or after {min}.", "zh-CN": "不能早于 {min}。"},
    "form.date_too_late": {"en": "Must be on or before {max}.", "zh-CN": "不能晚于 {max}。"},
    "form.option_unknown": {"en": "“{value}” is not one of the options.", "zh-CN": "“{value}”不是可选项。"},
    "form.choices_invalid": {"en": "Choose from the options.", "zh-CN": "请从选项中选择。"},
    "form.too_few_choices": {"en": "Choose at least {min}.", "zh-CN": "至少选择 {min} 项。"},
    "form.too_many_choices": {"en": "Choose at most {max}.", "zh-CN": "最多选择 {max} 项。"},
    "form.checkbox_invalid": {"en": "Must be yes or no.", "zh-CN": "只能是“是”或“否”。"},
    "form.reference_invalid": {"en": "“{value}” is not a valid choice.", "zh-CN": "“{value}”不是有效的选择。"},
    "form.reference_not_found": {"en": "No longer exists (id {id}).", "zh-CN": "已不存在（编号 {id}）。"},
    "form.file_invalid": {"en": "The file reference is not valid.", "zh-CN": "文件引用无效。"},
    "form.image_type_invalid": {"en": "“{name}” is not an image.", "zh-CN": "“{name}”不是图片。"},
    "form.file_too_large": {"en": "“{name}” is larger than {max} bytes.",
                            "zh-CN": "“{name}”超过 {max} 字节。"},
    "form.too_many_files": {"en": "At most {max} files.", "zh-CN": "最多 {max} 个文件。"},
    "form.too_few_files": {"en": "At least {min} files.", "zh-CN": "至少 {min} 个文件。"},
    "form.rows_invalid": {"en": "The rows are not valid.", "zh-CN": "明细行无效。"},
    "form.row_invalid": {"en": "The row is not valid.", "zh-CN": "该明细行无效。"},
    "form.row_empty": {"en": "Row {row} is empty: fill it in or remove it.", "zh-CN": "第 {row} 行为空：请填写或删除该行。"},
    "form.too_many_rows": {"en": "At most {max} rows.", "zh-CN": "最多 {max} 行。"},
    "form.too_few_rows": {"en": "At least {min} rows.", "zh-CN": "至少 {min} 行。"},
    # definitions
    "form.definition_invalid": {"en": "The form definition has problems.", "zh-CN": "表单定义有问题。"},
    "form.json_invalid": {"en": "Not a valid JSON form definition: {detail}",
                          "zh-CN": "不是有效的 JSON 表单定义：{detail}"},
    "form.schema_version_unknown": {"en": "Unknown definition format version {version} (newest is {max}).",
                                    "zh-CN": "未知的定义格式版本 {version}（最新为 {max}）。"},
    "form.property_invalid": {"en": "Invalid value: {detail}", "zh-CN": "取值无效：{detail}"},
    "form.property_unknown": {"en": "Unknown property.", "zh-CN": "未知属性。"},
    "form.property_not_applicable": {"en": "“{property}” does not apply to a {type} field.",
                                     "zh-CN": "“{property}”不适用于 {type} 类型的字段。"},
    "form.too_large": {"en": "The definition is too large ({bytes} bytes, at most {max}).",
                       "zh-CN": "表单定义过大（{bytes} 字节，最多 {max}）。"},
    "form.too_many_fields": {"en": "Too many fields ({count}, at most {max}).",
                             "zh-CN": "字段过多（{count} 个，最多 {max} 个）。"},
    "form.too_many_columns": {"en": "Too many columns ({count}, at most {max}).",
                              "zh-CN": "列过多（{count} 列，最多 {max} 列）。"},
    "form.too_many_options": {"en": "Too many options ({count}, at most {max}).",
                              "zh-CN": "选项过多（{count} 个，最多 {max} 个）。"},
    "form.no_fields": {"en": "The form has no fields.", "zh-CN": "表单没有任何字段。"},
    "form.key_invalid": {"en": "Key “{key}” must start with a lowercase letter and use only a-z, 0-9 and _ "
                               "(at most 63 characters).",
                         "zh-CN": "标识“{key}”须以小写字母开头，只能包含 a-z、0-9 和 _（最多 63 个字符）。"},
    "form.key_duplicate": {"en": "Key “{key}” is used twice.", "zh-CN": "标识“{key}”重复。"},
    "form.locale_unknown": {"en": "Unknown language “{locale}” (use zh-CN or en).",
                            "zh-CN": "未知语言“{locale}”（请使用 zh-CN 或 en）。"},
    "form.label_missing": {"en": "Give the field a label.", "zh-CN": "请填写字段名称。"},
    "form.content_missing": {"en": "Write the description text.", "zh-CN": "请填写说明文字。"},
    "form.select_without_options": {"en": "A select field needs at least one option.",
                                    "zh-CN": "选择字段至少需要一个选项。"},
    "form.option_value_missing": {"en": "An option needs a value.", "zh-CN": "选项值不能为空。"},
    "form.option_duplicate": {"en": "Option “{value}” appears twice.", "zh-CN": "选项“{value}”重复。"},
    "form.color_invalid": {"en": "Colour “{color}” is not valid.", "zh-CN": "颜色“{color}”无效。"},
    "form.pattern_invalid": {"en": "The pattern is not a valid regular expression: {detail}",
                             "zh-CN": "格式规则不是有效的正则表达式：{detail}"},
    "form.currency_invalid": {"en": "Currency “{currency}” must be a 3-letter code such as CNY.",
                              "zh-CN": "币种“{currency}”须为 3 个大写字母，如 CNY。"},
    "form.decimals_invalid": {"en": "Decimal places must be between 0 and {max}.",
                              "zh-CN": "小数位数须在 0 到 {max} 之间。"},
    "form.range_invalid": {"en": "The minimum ({min}) is greater than the maximum ({max}).",
                           "zh-CN": "最小值（{min}）大于最大值（{max}）。"},
    "form.count_invalid": {"en": "Must be a whole number, 0 or more.", "zh-CN": "须为不小于 0 的整数。"},
    "form.default_invalid": {"en": "The default value is not valid for this field.",
                             "zh-CN": "默认值不符合该字段的要求。"},
    "form.column_type_invalid": {"en": "A {type} field cannot be a column of a line-items table.",
                                 "zh-CN": "{type} 类型的字段不能作为明细表的列。"},
    "form.line_items_without_columns": {"en": "A line-items table needs at least one column.",
                                        "zh-CN": "明细表至少需要一列。"},
    "form.total_column_invalid": {"en": "Column “{column}” cannot be totalled (not a number column).",
                                  "zh-CN": "列“{column}”不能合计（不是数字列）。"},
    "form.expression_missing": {"en": "A computed field needs a formula.", "zh-CN": "计算字段需要公式。"},
    "form.expression_invalid": {"en": "The formula is not valid JSON-logic: {detail}",
                                "zh-CN": "公式不是有效的 JSON-logic：{detail}"},
    "form.expression_unknown_operator": {"en": "Unknown operator “{operator}” in the formula.",
                                         "zh-CN": "公式中有未知运算符“{operator}”。"},
    "form.expression_unknown_field": {"en": "The formula refers to an unknown field “{name}”.",
                                      "zh-CN": "公式引用了不存在的字段“{name}”。"},
    "form.expression_dynamic_var": {"en": "“{operator}” must name fields literally.",
                                    "zh-CN": "“{operator}”必须直接写明字段名。"},
    "form.expression_arity": {"en": "“{operator}” needs at least {min} arguments.",
                              "zh-CN": "“{operator}”至少需要 {min} 个参数。"},
    "form.expression_type_mismatch": {"en": "The formula compares {type} field “{name}” with {value}.",
                                      "zh-CN": "公式把 {type} 类型的字段“{name}”与 {value} 比较。"},
    "form.expression_too_large": {"en": "The formula is too large ({nodes} parts, at most {max}).",
                                  "zh-CN": "公式过大（{nodes} 个部分，最多 {max} 个）。"},
    "form.expression_too_deep": {"en": "The formula is nested too deeply (at most {max} levels).",
                                 "zh-CN": "公式嵌套过深（最多 {max} 层）。"},
    "form.result_type_invalid": {"en": "Unknown result type “{result_type}”.",
                                 "zh-CN": "未知的结果类型“{result_type}”。"},
    "form.formula_cycle": {"en": "Formulas depend on each other in a circle: {fields}.",
                           "zh-CN": "公式之间存在循环依赖：{fields}。"},
    # versions
    "form.incompatible_change": {
        "en": "Changing the type of {fields} would break {orders} existing orders.",
        "zh-CN": "修改 {fields} 的类型会影响 {orders} 个已有订单。"},
}


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(code: str, params: dict[str, Any] | None = None, locale: str = DEFAULT_LOCALE) -> str:
    """The message for `code` in `locale` (zh-CN, en; other values fall back by language, then
    to zh-CN). An unknown code renders as the code itself so nothing is silently blank."""
    templates = MESSAGES.get(code)
    if templates is None:
        return code
    template = templates.get(locale) or templates.get(_language(locale)) or templates[DEFAULT_LOCALE]
    separator = "、" if _language(locale) == "zh-CN" else ", "
    values = _Keep({k: _show(v, separator) for k, v in (params or {}).items()})
    return string.Formatter().vformat(template, (), values)


def _language(locale: str) -> str:
    return "zh-CN" if locale.lower().replace("_", "-").startswith("zh") else "en"


def _show(value: Any, separator: str) -> Any:
    if isinstance(value, list | tuple):
        return separator.join(str(v) for v in value)
    return value
