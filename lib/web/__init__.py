"""The HTTP layer, the only one that knows Flask: `create_app`, the blueprints, access
rules, request logs, and the one table that turns domain errors into HTTP answers."""
