//! Solana Pay: checking a payment's transfers on chain, on request and by
//! the poller.

use super::*;
use crate::error::{OrdersError, PaymentError, Result};
use crate::gateway::TransferCheck;
use crate::model::*;
use crate::payment::*;
use crate::service::OrdersService;
use crate::service::decisions;
use uuid::Uuid;

impl OrdersService {
    /// `GET /payments/{id}/verify`: looks each unpaid transfer of a Solana
    /// Pay payment up on chain and settles the payment once all are paid.
    pub async fn verify_payment(&self, payment_id: Uuid) -> Result<Payment, PaymentError> {
        let checkout_id = self.checkout_of_payment(payment_id).await?;
        let mut state = self.store.checkout(checkout_id).await?.ok_or(OrdersError::NotFound("payment"))?;
        if state.payment.provider != Provider::Solana {
            return Err(PaymentError::WrongProvider("only Solana Pay payments are verified on chain"));
        }
        let sol = self
            .providers
            .solana
            .clone()
            .ok_or_else(|| OrdersError::ProviderDisabled("Solana Pay is not enabled on this shop"))?;
        if state.payment.status != PaymentStatus::Pending {
            return Ok(state.payment.clone());
        }
        if state.payment.solana.is_empty() {
            state = self.open_solana(&state).await?;
        }
        let open: Vec<Uuid> =
            state.orders.iter().filter(|o| o.status == OrderStatus::PendingPayment).map(|o| o.id).collect();
        let mut paid = Vec::new();
        let mut problem = None;
        for t in state.payment.solana.iter().filter(|t| t.signature.is_none() && open.contains(&t.order_id)) {
            match sol.check(t).await? {
                TransferCheck::Paid { signature } => {
                    if self.store.claim_ref(SIGNATURE, &signature, payment_id).await? == payment_id {
                        paid.push((t.reference.clone(), signature));
                    } else {
                        tracing::warn!(%payment_id, signature, "a transaction that paid another payment was offered again");
                        problem = Some(format!("transaction {signature} already paid another payment"));
                    }
                }
                TransferCheck::NotFound => {}
                TransferCheck::NotFinal { signature } => {
                    problem.get_or_insert(format!("transaction {signature} is not finalized yet"));
                }
                TransferCheck::Rejected { signature, reason } => {
                    tracing::warn!(%payment_id, signature, reason, "Solana transfer refused");
                    problem = Some(format!("transaction {signature} refused: {reason}"));
                }
            }
        }
        // Nothing new on chain (the poller's usual answer): no write.
        if paid.is_empty() && problem.as_ref().is_none_or(|p| state.payment.last_error.as_ref() == Some(p)) {
            return Ok(state.payment.clone());
        }
        let now = self.now();
        let state = self
            .store
            .change_checkout(checkout_id, &|state: &CheckoutState| {
                decisions::solana_progress(state, &paid, problem.as_deref(), now)
            })
            .await?;
        Ok(state.payment.clone())
    }

    /// Checks the chain for every pending Solana Pay payment not yet
    /// expired; returns how many settled.
    pub async fn poll_solana(&self, limit: u32) -> Result<usize> {
        if self.providers.solana.is_none() {
            return Ok(0);
        }
        let now = self.now();
        let mut settled = 0;
        for p in self.store.pending_payments(limit).await? {
            if p.provider != Provider::Solana || p.expires_at <= now {
                continue;
            }
            match self.verify_payment(p.id).await {
                Ok(view) if view.status == PaymentStatus::Succeeded => settled += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(payment_id = %p.id, error = %e, "Solana Pay check failed"),
            }
        }
        Ok(settled)
    }
}
