"""The autoscaling/v2 HorizontalPodAutoscaler controller."""
