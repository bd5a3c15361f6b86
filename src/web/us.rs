//! The US states (with DC) by postal code: lead addresses, LO licences and routing rules all check against
//! this one list.

pub const US_STATES: [&str; 51] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
    "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR",
    "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
];

/// Whether `s` (any case, surrounding spaces ignored) is a state's postal code.
pub fn is_us_state(s: &str) -> bool {
    US_STATES.contains(&s.trim().to_uppercase().as_str())
}
