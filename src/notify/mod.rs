//! Notifications (SPEC §6). Callers say *what happened* with a [`Message`] inside the
//! transaction that made it happen; this module writes the in-app inbox row (always) and the
//! SMS and e-mail messages into the durable outbox, delivered later by the [`worker`].

pub mod admin;
pub mod channels;
pub mod clock;
pub mod contact;
pub mod inbox;
pub mod outbox;
pub mod pages;
pub mod worker;

pub use crate::config::{NotifySettings, SmsSettings, SmtpSettings, SmtpTls};
pub use clock::{Clock, ManualClock, SystemClock};

use crate::money::Cents;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;

use crate::db::{Tx, now_ms};

/// The JSON API of this context: the admin outbox and a person's message settings.
pub fn api_router() -> OpenApiRouter<crate::http::AppState> {
    admin::router().merge(contact::router())
}

/// What a person should hear about. Amounts in cents; texts are rendered in the recipient's
/// language.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    InvoiceRejected {
        case_id: i64,
        invoice_no: String,
        reason: String,
    },
    CaseReturned {
        case_id: i64,
        reason: String,
    },
    CaseRejected {
        case_id: i64,
        reason: String,
    },
    CaseApproved {
        case_id: i64,
        payout_cents: Cents,
    },
    BookingConfirmed {
        case_id: i64,
        slot_date: String,
        start: String,
        end: String,
    },
    BookingCancelled {
        case_id: i64,
        slot_date: String,
        start: String,
    },
    BookingReminder {
        case_id: i64,
        slot_date: String,
        start: String,
        end: String,
    },
    CaseCompleted {
        case_id: i64,
        payout_cents: Cents,
    },
    /// An external insurer adjudicated the claim with a payout (nothing to hand in).
    InsurerApproved {
        case_id: i64,
        payout_cents: Cents,
    },
    /// The insurer paid; `destination` is masked (`****1234`) or absent.
    CasePaid {
        case_id: i64,
        amount_cents: Cents,
        destination: Option<String>,
    },
    /// The university's bank transfer went out (SPEC §13 office); `destination` is the masked
    /// account.
    PayoutSent {
        case_id: i64,
        amount_cents: Cents,
        destination: String,
    },
    /// The bank returned the transfer: the student fixes the account and is paid in a later
    /// batch.
    PayoutReturned {
        case_id: i64,
        amount_cents: Cents,
    },
    /// Staff took back a decision: the case is under review again (a booking was released).
    CaseReopened {
        case_id: i64,
        reason: String,
    },
    /// An admin lifted the blacklist entry of an invoice number.
    BlacklistLifted {
        case_id: i64,
        invoice_no: String,
        reason: String,
    },
    /// The desk wrote to everyone booked on a slot.
    SlotMessage {
        case_id: i64,
        slot_date: String,
        start: String,
        text: String,
    },
    /// The office cancelled the slot: the booking is released and the case can be booked again.
    SlotCancelled {
        case_id: i64,
        slot_date: String,
        start: String,
        reason: String,
    },
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::InvoiceRejected { .. } => "invoice_rejected",
            Message::CaseReturned { .. } => "case_returned",
            Message::CaseRejected { .. } => "case_rejected",
            Message::CaseApproved { .. } => "case_approved",
            Message::BookingConfirmed { .. } => "booking_confirmed",
            Message::BookingCancelled { .. } => "booking_cancelled",
            Message::BookingReminder { .. } => "booking_reminder",
            Message::CaseCompleted { .. } => "case_completed",
            Message::InsurerApproved { .. } => "insurer_approved",
            Message::CasePaid { .. } => "case_paid",
            Message::PayoutSent { .. } => "payout_sent",
            Message::PayoutReturned { .. } => "payout_returned",
            Message::CaseReopened { .. } => "case_reopened",
            Message::BlacklistLifted { .. } => "blacklist_lifted",
            Message::SlotMessage { .. } => "slot_message",
            Message::SlotCancelled { .. } => "slot_cancelled",
        }
    }

    pub fn case_id(&self) -> i64 {
        match self {
            Message::InvoiceRejected { case_id, .. }
            | Message::CaseReturned { case_id, .. }
            | Message::CaseRejected { case_id, .. }
            | Message::CaseApproved { case_id, .. }
            | Message::BookingConfirmed { case_id, .. }
            | Message::BookingCancelled { case_id, .. }
            | Message::BookingReminder { case_id, .. }
            | Message::CaseCompleted { case_id, .. }
            | Message::InsurerApproved { case_id, .. }
            | Message::CasePaid { case_id, .. }
            | Message::PayoutSent { case_id, .. }
            | Message::PayoutReturned { case_id, .. }
            | Message::CaseReopened { case_id, .. }
            | Message::BlacklistLifted { case_id, .. }
            | Message::SlotMessage { case_id, .. }
            | Message::SlotCancelled { case_id, .. } => *case_id,
        }
    }

    /// (title, body) in `lang` (`zh-CN` or `en`).
    pub fn render(&self, lang: &str) -> (String, String) {
        let en = lang == "en";
        match self {
            Message::InvoiceRejected {
                case_id,
                invoice_no,
                reason,
            } => {
                if en {
                    (
                        format!("Invoice {invoice_no} was rejected"),
                        format!("Case #{case_id}: invoice {invoice_no} was rejected: {reason}"),
                    )
                } else {
                    (
                        format!("发票 {invoice_no} 被驳回"),
                        format!("病历 #{case_id}：发票 {invoice_no} 被驳回，理由：{reason}"),
                    )
                }
            }
            Message::CaseReturned { case_id, reason } => {
                if en {
                    (
                        format!("Case #{case_id} needs changes"),
                        format!(
                            "Case #{case_id} was returned for changes: {reason}. Edit it and submit again."
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id} 需要修改"),
                        format!("病历 #{case_id} 被退回修改：{reason}。请修改后重新提交。"),
                    )
                }
            }
            Message::CaseRejected { case_id, reason } => {
                if en {
                    (
                        format!("Case #{case_id} was rejected"),
                        format!("Case #{case_id} was rejected: {reason}"),
                    )
                } else {
                    (
                        format!("病历 #{case_id} 未通过"),
                        format!("病历 #{case_id} 被驳回，理由：{reason}"),
                    )
                }
            }
            Message::CaseApproved {
                case_id,
                payout_cents,
            } => {
                if en {
                    (
                        format!("Case #{case_id} approved"),
                        format!(
                            "Case #{case_id} was approved: ¥{} will be paid. Book a slot to hand in the paper invoices.",
                            payout_cents
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id} 审核通过"),
                        format!(
                            "病历 #{case_id} 审核通过，报销金额 ¥{}。请预约时段现场交票。",
                            payout_cents
                        ),
                    )
                }
            }
            Message::BookingConfirmed {
                case_id,
                slot_date,
                start,
                end,
            } => {
                if en {
                    (
                        format!("Booked: {slot_date} {start}"),
                        format!("Case #{case_id}: hand-in booked for {slot_date} {start}–{end}."),
                    )
                } else {
                    (
                        format!("预约成功：{slot_date} {start}"),
                        format!("病历 #{case_id}：已预约 {slot_date} {start}–{end} 现场交票。"),
                    )
                }
            }
            Message::BookingCancelled {
                case_id,
                slot_date,
                start,
            } => {
                if en {
                    (
                        format!("Booking cancelled: {slot_date} {start}"),
                        format!(
                            "Case #{case_id}: the hand-in booking for {slot_date} {start} was cancelled."
                        ),
                    )
                } else {
                    (
                        format!("预约已取消：{slot_date} {start}"),
                        format!("病历 #{case_id}：{slot_date} {start} 的交票预约已取消。"),
                    )
                }
            }
            Message::BookingReminder {
                case_id,
                slot_date,
                start,
                end,
            } => {
                if en {
                    (
                        format!("Reminder: hand-in tomorrow {start}"),
                        format!(
                            "Case #{case_id}: please bring the paper invoices on {slot_date} {start}–{end}."
                        ),
                    )
                } else {
                    (
                        format!("提醒：明天 {start} 现场交票"),
                        format!(
                            "病历 #{case_id}：请于 {slot_date} {start}–{end} 携带发票原件到受理点。"
                        ),
                    )
                }
            }
            Message::CaseCompleted {
                case_id,
                payout_cents,
            } => {
                if en {
                    (
                        format!("Case #{case_id} completed"),
                        format!(
                            "Paper received for case #{case_id}; ¥{} will be paid.",
                            payout_cents
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id} 已完成"),
                        format!(
                            "病历 #{case_id} 已现场确认，报销金额 ¥{} 将发放。",
                            payout_cents
                        ),
                    )
                }
            }
            Message::InsurerApproved {
                case_id,
                payout_cents,
            } => {
                if en {
                    (
                        format!("Case #{case_id}: the insurer will pay ¥{}", payout_cents),
                        format!(
                            "Your insurer approved case #{case_id}: ¥{} will be paid to your account. Nothing to hand in.",
                            payout_cents
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id}：保险公司核定赔付 ¥{}", payout_cents),
                        format!(
                            "保险公司已核定病历 #{case_id}，赔付 ¥{} 将直接支付到您的账户，无需现场交票。",
                            payout_cents
                        ),
                    )
                }
            }
            Message::PayoutSent {
                case_id,
                amount_cents,
                destination,
            } => {
                if en {
                    (
                        format!("Case #{case_id}: ¥{amount_cents} paid"),
                        format!(
                            "The university transferred ¥{amount_cents} for case #{case_id} to {destination}."
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id}：已打款 ¥{amount_cents}"),
                        format!(
                            "病历 #{case_id} 的报销款 ¥{amount_cents} 已打款至 {destination}。"
                        ),
                    )
                }
            }
            Message::PayoutReturned {
                case_id,
                amount_cents,
            } => {
                if en {
                    (
                        format!("Case #{case_id}: the transfer came back"),
                        format!(
                            "The bank returned the transfer of ¥{amount_cents} for case #{case_id}. Check your payout account under \"Me\"; it is paid again once you fixed it."
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id}：打款被退回"),
                        format!(
                            "病历 #{case_id} 的报销款 ¥{amount_cents} 被银行退回，请在“我的”中核对并修改收款账户，修改后将重新打款。"
                        ),
                    )
                }
            }
            Message::CasePaid {
                case_id,
                amount_cents,
                destination,
            } => {
                let to = destination.as_deref().unwrap_or("");
                if en {
                    (
                        format!("Case #{case_id}: ¥{} paid", amount_cents),
                        format!(
                            "The insurer paid ¥{} for case #{case_id}{}.",
                            amount_cents,
                            if to.is_empty() {
                                String::new()
                            } else {
                                format!(" to {to}")
                            }
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id}：¥{} 已到账", amount_cents),
                        format!(
                            "保险公司已支付病历 #{case_id} 的赔付 ¥{}{}。",
                            amount_cents,
                            if to.is_empty() {
                                String::new()
                            } else {
                                format!("，收款账户 {to}")
                            }
                        ),
                    )
                }
            }
            Message::CaseReopened { case_id, reason } => {
                if en {
                    (
                        format!("Case #{case_id} is under review again"),
                        format!(
                            "The office reopened case #{case_id}: {reason}. A reviewer will decide it again; any booking for it was released."
                        ),
                    )
                } else {
                    (
                        format!("病历 #{case_id} 重新审核"),
                        format!(
                            "报销办公室已重新打开病历 #{case_id}，原因：{reason}。审核人员将重新审核；原有预约已取消。"
                        ),
                    )
                }
            }
            Message::BlacklistLifted {
                case_id,
                invoice_no,
                reason,
            } => {
                if en {
                    (
                        format!("Invoice {invoice_no} may be claimed again"),
                        format!(
                            "The office lifted the blacklist entry of invoice {invoice_no} (case #{case_id}): {reason}."
                        ),
                    )
                } else {
                    (
                        format!("发票 {invoice_no} 已移出黑名单"),
                        format!(
                            "报销办公室已将发票 {invoice_no}（病历 #{case_id}）移出黑名单，原因：{reason}。"
                        ),
                    )
                }
            }
            Message::SlotMessage {
                case_id,
                slot_date,
                start,
                text,
            } => {
                if en {
                    (
                        format!("About your hand-in on {slot_date} {start}"),
                        format!("Case #{case_id}, hand-in {slot_date} {start}: {text}"),
                    )
                } else {
                    (
                        format!("关于 {slot_date} {start} 的交票预约"),
                        format!("病历 #{case_id}，{slot_date} {start} 现场交票：{text}"),
                    )
                }
            }
            Message::SlotCancelled {
                case_id,
                slot_date,
                start,
                reason,
            } => {
                if en {
                    (
                        format!("Hand-in slot cancelled: {slot_date} {start}"),
                        format!(
                            "Case #{case_id}: the office cancelled the hand-in slot {slot_date} {start}: {reason}. Your booking was released; please book another slot."
                        ),
                    )
                } else {
                    (
                        format!("交票时段已取消：{slot_date} {start}"),
                        format!(
                            "病历 #{case_id}：受理点取消了 {slot_date} {start} 的交票时段，原因：{reason}。您的预约已释放，请重新预约其他时段。"
                        ),
                    )
                }
            }
        }
    }
}

/// What [`notify`] wrote: the inbox row and the outbox rows queued for it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Notified {
    pub notification_id: i64,
    pub sms: Option<i64>,
    pub email: Option<i64>,
}

/// Tells `user_id` about `message`, inside `tx`: the in-app inbox row now; an SMS (when the
/// user has a phone) and an e-mail (when the user has an address) through the durable outbox,
/// each with an idempotency key derived from the inbox row, so it is delivered exactly once.
pub async fn notify(tx: &mut Tx, user_id: i64, message: &Message) -> sqlx::Result<Notified> {
    let (lang, email, phone_enc): (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT lang, email, phone_enc FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
    let (title, body) = message.render(&lang);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notifications (user_id, kind, title, body, case_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(message.kind())
    .bind(crate::seal::seal(&title))
    .bind(crate::seal::seal(&body))
    .bind(message.case_id())
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    let payload = outbox::Payload {
        kind: message.kind().to_string(),
        lang,
        subject: title,
        text: body,
        to_phone_enc: None,
    };
    let mut notified = Notified {
        notification_id: id,
        ..Notified::default()
    };
    if phone_enc.is_some() {
        let key = format!("notification-{id}-sms");
        notified.sms = outbox::enqueue_for_user(tx, "sms", user_id, None, &payload, &key).await?;
    }
    if let Some(address) = email.filter(|e| e.contains('@')) {
        let key = format!("notification-{id}-email");
        notified.email =
            outbox::enqueue_for_user(tx, "email", user_id, Some(&address), &payload, &key).await?;
    }
    Ok(notified)
}
