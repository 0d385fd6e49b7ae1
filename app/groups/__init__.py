"""Power groups (集团): dashboards over a group's subsidiaries and 横向对标."""
