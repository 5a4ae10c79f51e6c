//! What Parquet calls the export's columns: the schema's physical and logical types, and
//! exact decimals as the whole numbers a DECIMAL column stores.

use std::sync::Arc;

use ::parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
use ::parquet::schema::types::Type;
use rust_decimal::Decimal;

use super::{Column, ColumnType, ParquetError};

/// The decimal as a whole number of units of 10^-scale, if it has at most `precision` digits
/// and no more than `scale` decimal places (trailing zeros aside): nothing is rounded.
pub(super) fn unscaled(d: Decimal, precision: u8, scale: u8) -> Result<i128, String> {
    let d = if d.scale() > u32::from(scale) {
        d.normalize()
    } else {
        d
    };
    let too_big = || format!("{d} does not fit DECIMAL({precision}, {scale})");
    if d.scale() > u32::from(scale) {
        return Err(format!(
            "{d} has more than {scale} decimal places (DECIMAL({precision}, {scale})); it is not rounded"
        ));
    }
    let factor = 10i128
        .checked_pow(u32::from(scale) - d.scale())
        .ok_or_else(too_big)?;
    let unscaled = d.mantissa().checked_mul(factor).ok_or_else(too_big)?;
    let limit = 10i128
        .checked_pow(u32::from(precision))
        .ok_or_else(too_big)?;
    if unscaled.abs() >= limit {
        return Err(too_big());
    }
    Ok(unscaled)
}

/// Bytes of a FIXED_LEN_BYTE_ARRAY that holds every decimal of `precision` digits: the
/// smallest n with 2^(8n-1) > 10^precision.
pub(super) fn decimal_width(precision: u8) -> usize {
    (1..=16)
        .find(|n| {
            let bits = 8 * n - 1;
            bits >= 127 || 1i128 << bits > 10i128.pow(u32::from(precision)) - 1
        })
        .unwrap_or(16)
}

/// The file's schema: one primitive field per column.
pub(super) fn schema(columns: &[Column]) -> Result<Type, ParquetError> {
    let fields = columns
        .iter()
        .map(|c| {
            let repetition = if c.nullable {
                Repetition::OPTIONAL
            } else {
                Repetition::REQUIRED
            };
            let field = match c.kind {
                ColumnType::Text | ColumnType::Json => {
                    Type::primitive_type_builder(&c.name, Physical::BYTE_ARRAY)
                        .with_logical_type(Some(LogicalType::String))
                }
                ColumnType::Int64 => Type::primitive_type_builder(&c.name, Physical::INT64),
                ColumnType::TimestampMillisUtc => {
                    Type::primitive_type_builder(&c.name, Physical::INT64).with_logical_type(
                        Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
                    )
                }
                ColumnType::Decimal { precision, scale } => {
                    if !(1..=38).contains(&precision) || scale > precision {
                        return Err(ParquetError::Schema(format!(
                            "column {}: DECIMAL({precision}, {scale}) needs a precision of 1 to 38 and a scale of at most the precision",
                            c.name
                        )));
                    }
                    let physical = match precision {
                        1..=9 => Physical::INT32,
                        10..=18 => Physical::INT64,
                        _ => Physical::FIXED_LEN_BYTE_ARRAY,
                    };
                    Type::primitive_type_builder(&c.name, physical)
                        .with_logical_type(Some(LogicalType::decimal(
                            i32::from(scale),
                            i32::from(precision),
                        )))
                        .with_precision(i32::from(precision))
                        .with_scale(i32::from(scale))
                        .with_length(if precision > 18 {
                            decimal_width(precision) as i32
                        } else {
                            -1
                        })
                }
            };
            field
                .with_repetition(repetition)
                .build()
                .map(Arc::new)
                .map_err(|e| ParquetError::Schema(format!("column {}: {e}", c.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
        .map_err(|e| ParquetError::Schema(e.to_string()))
}
