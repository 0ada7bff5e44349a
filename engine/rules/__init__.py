"""Rules: definitions, validation, firing policy, actions to effects, the JSON-logic to SQL compiler."""
