//! The packet table of the accept/reject corpus.

mod corpus;

#[test]
fn packet_cases() {
    corpus::run(corpus::packet::cases());
}
