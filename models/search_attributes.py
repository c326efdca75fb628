"""Custom search attributes operators filter on in the Temporal UI. No personal data goes in these."""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
AMOUNT_DUE = SearchAttributeKey.for_float("AmountDue")
DUE_DATE = SearchAttributeKey.for_datetime("DueDate")
DUNNING_LEVEL = SearchAttributeKey.for_int("DunningLevel")

ALL_KEYS = (ORDER_STATUS, CUSTOMER_ID, AMOUNT_DUE, DUE_DATE, DUNNING_LEVEL)

# The names the `temporal` CLI takes in `--search-attribute Name=Type`.
CLI_TYPES = {
    ORDER_STATUS.name: "Keyword",
    CUSTOMER_ID.name: "Keyword",
    AMOUNT_DUE.name: "Double",
    DUE_DATE.name: "Datetime",
    DUNNING_LEVEL.name: "Int",
}
