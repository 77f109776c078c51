# Enqueues 1,000 jobs: 900 immediate, 100 scheduled 3 s ahead, plus 20 that fail once.
require_relative "worker"

now = Time.now.to_f
900.times { |i| RecordJob.perform_async(i, 0) }
100.times { |i| RecordJob.perform_at(now + 3, 900 + i, now + 3) }
20.times { |i| FlakyJob.perform_async(i) }
puts "enqueued"
