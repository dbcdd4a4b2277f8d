//! The sandbox's virtual clock.
//!
//! Rate windows (OPS 60 s buckets, JPO 10 requests/60 s) and the JPO day (reset at 00:00 JST)
//! run on this clock, which can run `time_scale` times faster than real time and can be moved
//! forward by the scenario API, so tests need not wait real minutes or days. Token lifetimes
//! are *not* scaled: they run on real time, so a client's own expiry arithmetic stays right.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch, on the virtual clock.
pub type VirtualMs = i64;

pub struct Clock {
    inner: Mutex<Anchor>,
}

struct Anchor {
    /// Virtual time at `real`.
    virtual_ms: VirtualMs,
    real: Instant,
    scale: f64,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        Clock {
            inner: Mutex::new(Anchor {
                virtual_ms: Utc::now().timestamp_millis(),
                real: Instant::now(),
                scale: sanitize_scale(scale),
            }),
        }
    }

    pub fn now_ms(&self) -> VirtualMs {
        let a = self.lock();
        a.virtual_ms + (a.real.elapsed().as_secs_f64() * 1000.0 * a.scale) as i64
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_else(Utc::now)
    }

    pub fn scale(&self) -> f64 {
        self.lock().scale
    }

    /// Changes the speed from now on; virtual time does not jump.
    pub fn set_scale(&self, scale: f64) {
        let now = self.now_ms();
        let mut a = self.lock();
        a.virtual_ms = now;
        a.real = Instant::now();
        a.scale = sanitize_scale(scale);
    }

    /// Moves virtual time forward (never backward: windows only ever expire).
    pub fn advance(&self, by: Duration) {
        let mut a = self.lock();
        a.virtual_ms += by.as_millis() as i64;
    }

    /// How long a span of virtual milliseconds lasts in real time.
    pub fn to_real(&self, virtual_span_ms: i64) -> Duration {
        let scale = self.scale();
        Duration::from_secs_f64(virtual_span_ms.max(0) as f64 / 1000.0 / scale)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn sanitize_scale(scale: f64) -> f64 {
    if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_forward_and_scale_keeps_continuity() {
        let c = Clock::new(1.0);
        let t0 = c.now_ms();
        c.advance(Duration::from_secs(3600));
        let t1 = c.now_ms();
        assert!(t1 - t0 >= 3_600_000);
        c.set_scale(1000.0);
        let t2 = c.now_ms();
        assert!(t2 >= t1, "changing the scale must not move time backwards");
        assert_eq!(c.to_real(60_000), Duration::from_millis(60));
    }

    #[test]
    fn nonsense_scale_falls_back_to_real_time() {
        let c = Clock::new(-3.0);
        assert_eq!(c.scale(), 1.0);
        c.set_scale(f64::NAN);
        assert_eq!(c.scale(), 1.0);
    }
}
