//! The SMPP link (tokio glue around rusmppc): bind as a transceiver, take
//! `deliver_sm` (answering each at once), bind again after a failure; and
//! the outbox that submits replies through whichever bind is up, throttled.

use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use callcore::{Clock, Timestamp};
use futures::StreamExt;
use rusmpp::pdus::{BindTransceiver, DeliverSmResp, SubmitSm};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, Npi, RegisteredDelivery, ServiceType, Ton,
};
use rusmpp::{Command, CommandId, Pdu};
use rusmppc::{Client, ConnectionBuilder, Event};
use tokio::sync::watch;

use crate::message::Outgoing;
use crate::sms::coding::decode;
use crate::sms::concat::{Reassembly, split, strip_udh};
use crate::sms::optout::OptOuts;
use crate::sms::{SmsConfig, SmsCounters, take_text};
use crate::{ChannelError, Inbox, Outbox};

/// `esm_class` bits: the UDH indicator, and the message type of a receipt.
const UDHI: u8 = 0x40;
const TYPE_MASK: u8 = 0x3C;
const TYPE_RECEIPT: u8 = 0x04;

/// How long a reply waits for the link to be up.
const LINK_WAIT: Duration = Duration::from_secs(10);

/// Starts the link task; the outbox submits through it.
pub(crate) fn start(
    config: SmsConfig,
    inbox: Arc<Inbox>,
    clock: Arc<dyn Clock>,
    counters: Arc<SmsCounters>,
    opt_outs: Arc<OptOuts>,
) -> (SmppOutbox, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(None);
    let interval = Duration::from_secs(1) / config.max_per_second.max(1);
    let outbox = SmppOutbox {
        source: config.source_addr.clone(),
        link: rx,
        clock: clock.clone(),
        next_slot: Mutex::new(Timestamp::from_millis(0)),
        interval,
        opt_outs: opt_outs.clone(),
        counters: counters.clone(),
        reference: AtomicU8::new(0),
    };
    let task = tokio::spawn(run(config, inbox, clock, counters, opt_outs, tx));
    (outbox, task)
}

fn octets(s: &str, field: &str) -> Result<COctetString<1, 16>, ChannelError> {
    COctetString::from_str(s).map_err(|e| ChannelError::Config {
        field: format!("sms.{field}"),
        detail: e.to_string(),
    })
}

async fn bind(
    config: &SmsConfig,
) -> Result<(Client, impl futures::Stream<Item = Event> + Unpin + 'static), ChannelError> {
    let builder = ConnectionBuilder::new()
        .enquire_link_interval(Duration::from_secs(30))
        .response_timeout(Duration::from_secs(10));
    let (client, events) = if config.tls {
        let tcp = tokio::net::TcpStream::connect(&config.smsc)
            .await
            .map_err(|e| ChannelError::peer("smpp", e))?;
        let tls = crate::tls::handshake(
            "smpp",
            crate::tls::client_config("sms.ca_file", config.ca_file.as_deref())?,
            &config.smsc,
            tcp,
        )
        .await?;
        let (client, events) = builder.connected(tls);
        (client, futures::future::Either::Left(events))
    } else {
        let (client, events) = builder
            .connect(format!("smpp://{}", config.smsc))
            .await
            .map_err(|e| ChannelError::peer("smpp", e))?;
        (client, futures::future::Either::Right(events))
    };
    let password: COctetString<1, 9> =
        COctetString::from_str(&config.password).map_err(|e| ChannelError::Config {
            field: "sms.password".into(),
            detail: e.to_string(),
        })?;
    let system_type: COctetString<1, 13> =
        COctetString::from_str(&config.system_type).map_err(|e| ChannelError::Config {
            field: "sms.system_type".into(),
            detail: e.to_string(),
        })?;
    client
        .bind_transceiver(
            BindTransceiver::builder()
                .system_id(octets(&config.system_id, "system_id")?)
                .password(password)
                .system_type(system_type)
                // rusmppc binds as 5.0 only; the PDUs used here (bind,
                // submit_sm, deliver_sm, enquire_link) are those of 3.4
                .interface_version(InterfaceVersion::Smpp5_0)
                .addr_ton(Ton::Unknown)
                .addr_npi(Npi::Unknown)
                .address_range(COctetString::empty())
                .build(),
        )
        .await
        .map_err(|e| ChannelError::peer("smpp", e))?;
    Ok((client, events))
}

/// Binds, serves the bind until it fails, waits, binds again.
async fn run(
    config: SmsConfig,
    inbox: Arc<Inbox>,
    clock: Arc<dyn Clock>,
    counters: Arc<SmsCounters>,
    opt_outs: Arc<OptOuts>,
    link: watch::Sender<Option<Client>>,
) {
    let mut reassembly = Reassembly::new(Duration::from_secs(600));
    loop {
        match bind(&config).await {
            Ok((client, mut events)) => {
                counters.set_bind_failure(None);
                counters.binds.fetch_add(1, Ordering::Relaxed);
                tracing::info!("SMPP bound as transceiver");
                link.send_replace(Some(client.clone()));
                while let Some(event) = events.next().await {
                    match event {
                        Event::Incoming(command) => {
                            incoming(
                                &client,
                                &command,
                                &inbox,
                                &*clock,
                                &counters,
                                &opt_outs,
                                &mut reassembly,
                            )
                            .await;
                        }
                        Event::Error(e) => tracing::warn!(error = %e, "SMPP link error"),
                    }
                }
                link.send_replace(None);
                tracing::warn!("SMPP link closed; binding again");
            }
            Err(e) => {
                tracing::warn!(error = %e, "SMPP bind failed; trying again");
                counters.set_bind_failure(Some(e.to_string()));
            }
        }
        clock
            .sleep(Duration::from_millis(config.reconnect_ms))
            .await;
    }
}

/// One command from the message centre.
async fn incoming(
    client: &Client,
    command: &Command,
    inbox: &Arc<Inbox>,
    clock: &dyn Clock,
    counters: &SmsCounters,
    opt_outs: &OptOuts,
    reassembly: &mut Reassembly,
) {
    if command.id() != CommandId::DeliverSm {
        return;
    }
    let sequence = command.sequence_number();
    // taken: answered at once, also when its text is refused (the centre
    // would only send it again)
    if let Err(e) = client
        .deliver_sm_resp(sequence, DeliverSmResp::default())
        .await
    {
        tracing::warn!(error = %e, "deliver_sm_resp not sent");
    }
    let Some(Pdu::DeliverSm(d)) = command.pdu() else {
        return;
    };
    let esm = u8::from(d.esm_class);
    let sm: &[u8] = d.short_message().as_ref();
    if esm & TYPE_MASK == TYPE_RECEIPT {
        receipt(sm, counters);
        return;
    }
    let number = d.source_addr.as_str().to_owned();
    let now = clock.now();
    let (part, data) = if esm & UDHI != 0 {
        match strip_udh(sm) {
            Ok(x) => x,
            Err(e) => return counters.refuse(&e),
        }
    } else {
        (None, sm)
    };
    let text = match decode(u8::from(d.data_coding), data) {
        Ok(t) => t,
        Err(e) => return counters.refuse(&e),
    };
    let id = format!("mo-{}-{sequence}", now.as_millis());
    let whole = match part {
        Some(p) => match reassembly.take(&number, p, text, now) {
            Some(t) => t,
            None => return,
        },
        None => text,
    };
    take_text(inbox, opt_outs, counters, &number, whole, id, now);
}

/// A delivery receipt (`id:… stat:…` text): the final state of a message
/// the center submitted.
fn receipt(sm: &[u8], counters: &SmsCounters) {
    let text = String::from_utf8_lossy(sm);
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_owned)
    };
    if let (Some(id), Some(stat)) = (field("id:"), field("stat:")) {
        tracing::info!(state = %stat, "SMS delivery receipt");
        counters
            .receipts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, stat);
    }
}

/// Submits replies through the link, throttled to `max_per_second`
/// segments; refuses numbers that opted out.
pub struct SmppOutbox {
    source: String,
    link: watch::Receiver<Option<Client>>,
    clock: Arc<dyn Clock>,
    next_slot: Mutex<Timestamp>,
    interval: Duration,
    opt_outs: Arc<OptOuts>,
    counters: Arc<SmsCounters>,
    reference: AtomicU8,
}

impl std::fmt::Debug for SmppOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppOutbox").finish_non_exhaustive()
    }
}

impl SmppOutbox {
    /// Waits for this segment's turn.
    async fn throttle(&self) {
        let now = self.clock.now();
        let slot = {
            let mut next = self
                .next_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        if slot > now {
            self.clock.sleep_until(slot).await;
        }
    }

    async fn client(&self) -> Result<Client, ChannelError> {
        let mut link = self.link.clone();
        let wait = link.wait_for(Option::is_some);
        match tokio::time::timeout(LINK_WAIT, wait).await {
            Ok(Ok(c)) => c
                .clone()
                .ok_or_else(|| ChannelError::peer("smpp", "not bound")),
            _ => Err(ChannelError::peer(
                "smpp",
                "not bound to the message centre",
            )),
        }
    }
}

#[async_trait]
impl Outbox for SmppOutbox {
    async fn send(&self, reply: &Outgoing) -> Result<String, ChannelError> {
        if self.opt_outs.is_out(&reply.customer) {
            return Err(ChannelError::OptedOut);
        }
        let reference = self.reference.fetch_add(1, Ordering::Relaxed);
        let segments = split(&reply.text, reference)?;
        let source: COctetString<1, 21> = COctetString::from_str(&self.source)
            .map_err(|e| ChannelError::Unsendable(format!("source_addr: {e}")))?;
        let destination: COctetString<1, 21> = COctetString::from_str(&reply.customer)
            .map_err(|e| ChannelError::Unsendable(format!("destination_addr: {e}")))?;
        let mut ids = Vec::with_capacity(segments.len());
        for s in segments {
            self.throttle().await;
            let client = self.client().await?;
            let mut esm = EsmClass::default();
            if s.udhi {
                esm = esm.with_udhi_indicator();
            }
            let short = OctetString::from_slice(&s.octets)
                .map_err(|e| ChannelError::Unsendable(format!("short_message: {e}")))?;
            let submit = SubmitSm::builder()
                .service_type(ServiceType::default())
                .source_addr_ton(Ton::Unknown)
                .source_addr_npi(Npi::Unknown)
                .source_addr(source.clone())
                .dest_addr_ton(Ton::Unknown)
                .dest_addr_npi(Npi::Unknown)
                .destination_addr(destination.clone())
                .esm_class(esm)
                .registered_delivery(RegisteredDelivery::request_all())
                .data_coding(DataCoding::from(s.data_coding))
                .short_message(short)
                .build();
            let resp = client
                .submit_sm(submit)
                .await
                .map_err(|e| ChannelError::peer("smpp", e))?;
            self.counters.submitted.fetch_add(1, Ordering::Relaxed);
            ids.push(resp.message_id().as_str().to_owned());
        }
        Ok(ids.join(","))
    }
}
