"""监测预警: events written with their cause (an outbox), subscriptions, the alert inbox and signed webhooks."""
