"""Messages for the portal's error codes (English msgids; Chinese in portal.po; read by backend/i18n.py)."""

ERROR_MESSAGES: dict[str, str] = {
    "portal.not_found": "This link is not valid.",
    "portal.rate_limited": "Too many requests. Please wait a minute and try again.",
    "portal.step_closed": "This step is already done; nothing more to enter here.",
    "portal.field_not_granted": "You may not change the field %(field)s.",
    "portal.value_invalid": "This value is not valid here.",
    "portal.party_not_found": "External party %(id)s does not exist.",
    "portal.party_inactive": "%(name)s is switched off; switch it on before giving it a link.",
    "portal.party_kind_invalid": "Unknown kind of party: %(kind)s.",
    "portal.email_invalid": "Not a valid e-mail address.",
    "portal.days_invalid": "A link is valid for 1 to %(max)s days.",
    "portal.node_not_granted": "The step %(node)s of this order's flow is not given to %(name)s.",
    "portal.link_not_found": "Portal link %(id)s does not exist.",
    "portal.username_invalid": "2 to 64 letters, digits or . _ - @.",
    "portal.username_taken": "The user name %(username)s is taken.",
    "portal.password_too_short": "At least %(min)s characters.",
    "portal.user_not_found": "Portal user %(id)s does not exist.",
    "portal.robot_invalid": "Choose a DingTalk, WeCom or Feishu robot channel.",
    "portal.link_exists": "%(name)s already holds a live link for this step.",
    "portal.password_wrong": "The current password is not right.",
    "portal.password_mismatch": "The two new passwords are not the same.",
}
