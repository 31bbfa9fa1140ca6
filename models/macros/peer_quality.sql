{# The arrays of a peer-stats report, as (direction, media kind): `publisher` holds the
   tracks the peer sent, `subscriber` those it received. #}
{% macro peer_quality_arrays() %}
  {{ return([
      ('publisher', 'audio'), ('publisher', 'video'),
      ('subscriber', 'audio'), ('subscriber', 'video'),
  ]) }}
{% endmacro %}
