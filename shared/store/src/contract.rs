//! The contract every Store adapter must honour, written once. `store_contract_tests!`
//! expands to one `#[tokio::test]` per rule for a given adapter constructor.

use std::collections::BTreeMap;

use hookpost_domain::delivery::{Attempt, AttemptKey};
use hookpost_domain::erasure::Removed;
use hookpost_domain::event::Event;
use hookpost_domain::failure::{Failure, FailureChange, FailureQuery, FailureStatus, RetriggerOutcome};
use hookpost_domain::subscription::{
    lifecycle, parse_new_subscription, Authentication, DisabledReason, Source, Subscription, SubscriptionChange,
    SubscriptionFilter, SubscriptionPatch, SubscriptionState,
};
use hookpost_domain::token::{generate, generate_pat, hash_pat, Token, TokenKind};
use hookpost_domain::usage::{hour_of, Usage};
use hookpost_domain::{
    Account, AccountId, Channel, ChannelId, ChannelType, DestinationPolicy, Plan, Reason, Scope, SubscriptionId,
    Timestamp, TokenId,
};
use serde_json::json;

use crate::{
    AccountStore, ActiveCap, Applied, AttemptStore, ErasureStore, EventStore, FailureStore, RateLimitStore, Store,
    StoreError, SubscriptionStore, TokenStore, UsageStore,
};

const NOW: Timestamp = Timestamp::from_unix(1_780_000_000);
const CAP: ActiveCap = ActiveCap(25);

async fn account<S: AccountStore + ?Sized>(store: &S) -> Account {
    let account = Account { id: AccountId::new(), name: "Acme".into(), plan: Plan::Pro, created_at: NOW };
    store.create_account(&account).await.expect("create account");
    account
}

fn subscription(account: AccountId, body: serde_json::Value, at: Timestamp) -> Subscription {
    let input = parse_new_subscription(body, &DestinationPolicy::default()).expect("valid subscription");
    Subscription::create(account, input, None, Some("user_1".into()), at)
}

fn plain(account: AccountId) -> Subscription {
    subscription(account, json!({"url": "https://example.com/hook"}), NOW)
}

mod account;
mod attempt;
mod catalogue;
mod delivery_control;
mod erasure;
mod event;
mod failure;
mod subscription;
mod token;
mod usage;

pub use self::account::*;
pub use self::attempt::*;
pub use self::catalogue::*;
pub use self::delivery_control::*;
pub use self::erasure::*;
pub use self::event::*;
pub use self::failure::*;
pub use self::subscription::*;
pub use self::token::*;
pub use self::usage::*;

fn event(account: AccountId, id: &str) -> Event {
    Event {
        account_id: account,
        event_id: id.to_owned(),
        event_type: "call.ended".into(),
        channel_id: ChannelId::parse("dom_1"),
        data: r#"{"call_id":7,"nested":{"a":[1,2]}}"#.into(),
        created_at: NOW,
        subscriptions: 3,
        fanned_out: false,
    }
}

/// Expands to one test per contract rule. `$make` is an async expression giving the store.
/// `; needs_dynamodb` marks tests that need a server: ignored (and counted so) only when the
/// run opts out with `HOOKPOST_SKIP_DYNAMODB=1`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@list $make; []);
    };
    ($make:expr; needs_dynamodb) => {
        $crate::store_contract_tests!(@list $make; [#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]]);
    };
    (@list $make:expr; $attrs:tt) => {
        $crate::store_contract_tests!(@tests $make; $attrs; accounts_round_trip,
            channels_belong_to_one_account,
            tokens_are_found_by_hash_and_revoked_by_owner,
            portal_links_open_once,
            subscriptions_round_trip_every_field,
            subscriptions_are_invisible_to_other_accounts,
            the_cap_counts_active_subscriptions_only,
            concurrent_creates_never_pass_the_cap,
            lists_are_newest_first_filtered_and_paged,
            patches_change_settings_only,
            delete_is_soft_and_reactivation_restores,
            rate_counters_count_per_key,
            usage_adds_up_per_hour_and_reads_by_range,
            events_are_stored_once_per_id,
            routable_subscriptions_leave_out_deleted_ones,
            failures_round_trip_newest_first,
            attempts_are_listed_newest_first,
            an_attempt_of_a_subscription_that_is_gone_is_not_logged,
            deliveries_update_the_subscription,
            concurrent_exhaustions_count_every_one_and_disable_once,
            an_event_counts_once_and_only_while_active,
            every_transition_sets_exactly_what_the_domain_decides,
            rotation_keeps_the_previous_secret,
            failure_queries_page_by_time_and_status,
            retriggers_move_through_the_state_machine,
            failure_transitions_set_exactly_what_the_domain_decides,
            concurrent_retriggers_let_exactly_one_through,
            erasure_removes_everything_an_account_owns,
            creates_racing_an_erasure_leave_nothing,
            purge_removes_a_subscription_and_its_history,
            rate_limiters_take_cells_as_the_domain_plans,
            concurrent_reservations_lose_no_cell,
            fifo_heads_are_kept_per_group,
            event_types_are_created_replaced_listed_and_deleted,
            concurrent_declarations_create_once,);
    };
    (@tests $make:expr; $attrs:tt; $($name:ident),+ $(,)?) => {
        $( $crate::store_contract_tests!(@one $make; $attrs; $name); )+
    };
    (@one $make:expr; [$($attr:tt)*]; $name:ident) => {
        #[tokio::test]
        $($attr)*
        async fn $name() {
            let store = $make.await;
            $crate::contract::$name(&store).await;
        }
    };
}
