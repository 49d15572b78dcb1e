"""The SQL console: a safe query editor with EXPLAIN plan trees and a per-user history."""
