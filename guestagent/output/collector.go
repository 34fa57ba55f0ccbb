package output

import "github.com/prometheus/client_golang/prometheus"

var (
	descWebhookSent = prometheus.NewDesc("virtwatt_webhook_sent_total",
		"Payloads the webhook endpoint accepted.", nil, nil)
	descWebhookFailed = prometheus.NewDesc("virtwatt_webhook_failed_total",
		"Payloads given up after their retries or refused by the endpoint.", nil, nil)
	descWebhookDropped = prometheus.NewDesc("virtwatt_webhook_dropped_total",
		"Payloads dropped from the full queue (the oldest first) or left unsent at shutdown.", nil, nil)
	descWebhookRetries = prometheus.NewDesc("virtwatt_webhook_retries_total",
		"Failed webhook attempts that were retried.", nil, nil)
	descWebhookQueued = prometheus.NewDesc("virtwatt_webhook_queue_length",
		"Payloads waiting to be sent.", nil, nil)
)

// Describe implements prometheus.Collector.
func (w *Webhook) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWebhookSent
	ch <- descWebhookFailed
	ch <- descWebhookDropped
	ch <- descWebhookRetries
	ch <- descWebhookQueued
}

// Collect implements prometheus.Collector.
func (w *Webhook) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descWebhookSent, prometheus.CounterValue, float64(w.Sent()))
	ch <- prometheus.MustNewConstMetric(descWebhookFailed, prometheus.CounterValue, float64(w.Failed()))
	ch <- prometheus.MustNewConstMetric(descWebhookDropped, prometheus.CounterValue, float64(w.Dropped()))
	ch <- prometheus.MustNewConstMetric(descWebhookRetries, prometheus.CounterValue, float64(w.Retries()))
	ch <- prometheus.MustNewConstMetric(descWebhookQueued, prometheus.GaugeValue, float64(w.Queued()))
}
