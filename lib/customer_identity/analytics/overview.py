"""The shop at a glance: the period the data covers, orders and buyers over time, and where
customers live (postal districts)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from customer_identity.analytics.features import customer_orders
from customer_identity.resolution.standardise import postcode_outward

DAILY_UP_TO_DAYS = 62  # a longer period is charted by week


def trend_grain(first_day, last_day) -> str:
    """ "day" for up to two months of data, "week" beyond."""
    return "day" if (last_day - first_day).days + 1 <= DAILY_UP_TO_DAYS else "week"


def orders_over_time(transactions: DataFrame, grain: str) -> DataFrame:
    """One row per day (or week, starting Monday) with an order: ``period`` (date), ``orders``,
    ``revenue``, ``new_buyers`` (first order in the period) and ``returning_buyers`` (ordered
    in the period, first order in an earlier one). Orders are checkouts of resolved customers."""
    orders = customer_orders(transactions)
    day = F.to_date("order_time")
    period = day if grain == "day" else F.date_trunc("week", "order_time").cast("date")
    orders = orders.withColumn("period", period)
    first = orders.groupBy("customer_id").agg(F.min("period").alias("first_period"))
    per_buyer = orders.groupBy("period", "customer_id").agg(F.count(F.lit(1)).alias("n"), F.sum("order_value").alias("value")).join(first, "customer_id")
    return (
        per_buyer.groupBy("period")
        .agg(
            F.sum("n").alias("orders"),
            F.round(F.sum("value"), 2).alias("revenue"),
            F.sum((F.col("period") == F.col("first_period")).cast("int")).alias("new_buyers"),
            F.sum((F.col("period") > F.col("first_period")).cast("int")).alias("returning_buyers"),
        )
        .orderBy("period")
    )


def customers_by_district(customers: DataFrame, features: DataFrame, country: str) -> DataFrame:
    """Customers and their spend per postal district (customers whose postcode names one),
    most customers first; ``rank`` 1 is the largest."""
    district = postcode_outward(F.col("postcode"), country)
    located = customers.select("customer_id", district.alias("district")).filter(F.col("district").isNotNull())
    counted = (
        located.join(features.select("customer_id", "spend"), "customer_id", "left")
        .groupBy("district")
        .agg(F.count(F.lit(1)).alias("customers"), F.round(F.sum(F.coalesce("spend", F.lit(0.0))), 2).alias("spend"))
    )
    return counted.withColumn("rank", F.row_number().over(Window.orderBy(F.desc("customers"), F.desc("spend"), "district")))


AGE_BANDS = ((18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-54"), (55, "55-64"), (65, "65 and over"))


def customers_by_age(customers: DataFrame, features: DataFrame) -> DataFrame:
    """Customers and their spend by age band at the end of the data, from the golden date of
    birth (``age_band`` "unknown" without one, "under 18" below the first band)."""
    end = features.agg(F.max("as_of").alias("as_of"))
    age = F.floor(F.months_between(F.col("as_of"), F.col("date_of_birth")) / 12)
    band = F.when(F.col("date_of_birth").isNull(), "unknown")
    for floor, label in reversed(AGE_BANDS):
        band = band.when(age >= floor, label)
    band = band.otherwise("under 18")
    return (
        customers.select("customer_id", "date_of_birth")
        .crossJoin(F.broadcast(end))
        .join(features.select("customer_id", "spend"), "customer_id", "left")
        .groupBy(band.alias("age_band"))
        .agg(F.count(F.lit(1)).alias("customers"), F.round(F.sum(F.coalesce("spend", F.lit(0.0))), 2).alias("spend"))
    )
