//! `tracing` events as Airbyte LOG messages on stdout, the only place a connector's logs are
//! sure to be seen. Only this crate's events are kept: dependencies' debug output is noise to a
//! user and could show request details.

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::output::Output;
use crate::protocol::{Log, LogLevel, Message};

struct AirbyteLogs {
    output: Arc<Output>,
    max_level: Level,
}

impl<S: Subscriber> Layer<S> for AirbyteLogs {
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        *metadata.level() <= self.max_level && metadata.target().starts_with("source_100ms")
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut text = MessageText(String::new());
        event.record(&mut text);
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        };
        // A log line that cannot be written is not worth failing the sync over; the next
        // record write reports a closed stdout.
        let _ = self.output.message(&Message::Log {
            log: Log {
                level,
                message: text.0,
            },
        });
    }
}

struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// Sends this process's logs to `output`, at INFO or, with `debug`, DEBUG.
pub fn init(output: Arc<Output>, debug: bool) {
    let layer = AirbyteLogs {
        output,
        max_level: if debug { Level::DEBUG } else { Level::INFO },
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
