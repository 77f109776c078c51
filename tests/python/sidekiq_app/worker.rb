# Sidekiq jobs for the queue test: each run records itself, so the test can check that every
# job ran exactly once and that scheduled jobs did not run before their time.
require "sidekiq"

Sidekiq.configure_server do |config|
  config.redis = { url: ENV.fetch("TERN_REDIS_URL") }
  # Poll scheduled and retry sets every second so the test does not wait Sidekiq's default 5 s.
  config.options[:average_scheduled_poll_interval] = 1
end
Sidekiq.configure_client { |config| config.redis = { url: ENV.fetch("TERN_REDIS_URL") } }

class RecordJob
  include Sidekiq::Worker
  sidekiq_options retry: 3

  def perform(id, not_before)
    Sidekiq.redis do |r|
      r.incr("runs")
      r.hincrby("runs_by_id", id.to_s, 1)
      r.sadd("early", id.to_s) if Time.now.to_f < not_before
    end
  end
end

# Fails on its first run, succeeds on the retry.
class FlakyJob
  include Sidekiq::Worker
  sidekiq_options retry: 3
  sidekiq_retry_in { |_count, _exception| 1 }

  def perform(id)
    first = Sidekiq.redis { |r| r.hincrby("flaky_attempts", id.to_s, 1) } == 1
    raise "first attempt fails on purpose" if first
    Sidekiq.redis { |r| r.sadd("flaky_done", id.to_s) }
  end
end
